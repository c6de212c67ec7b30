"""OIDC: reads its configuration at start-up (a mistake stops it), its routes and button."""

from django.apps import AppConfig

from portal import registry


def sign_in_button():
    from enterprise.oidc import config

    cfg = config.current()
    if cfg is None:
        return None
    return registry.SignInButton(
        text=cfg.sign_in_text, url="/oidc/authenticate/", icon_url=cfg.icon_url
    )


class OIDCConfig(AppConfig):
    name = "enterprise.oidc"
    label = "oidc"
    verbose_name = "OIDC sign-in"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.oidc import config, deployment_settings

        deployment_settings.register()
        config.current()  # ImproperlyConfigured: start-up fails with its one sentence
        registry.register_http_routes("oidc/", "enterprise.oidc.urls", namespace="oidc")
        registry.register_sign_in_method("oidc", sign_in_button)
