"""Every template that exists before access control may still be used by Everyone."""

from django.db import migrations


def grant_everyone(apps, schema_editor):
    Group = apps.get_model("groups", "Group")
    Template = apps.get_model("templates_app", "Template")
    TemplateACL = apps.get_model("template_acl", "TemplateACL")
    everyone = Group.objects.filter(is_everyone=True).first()
    if everyone is None:
        everyone = Group.objects.create(
            name="everyone", display_name="Everyone", source="user", is_everyone=True
        )
    have = set(TemplateACL.objects.filter(group=everyone).values_list("template_id", flat=True))
    TemplateACL.objects.bulk_create(
        TemplateACL(template_id=pk, group=everyone, role="use")
        for pk in Template.objects.values_list("pk", flat=True)
        if pk not in have
    )


class Migration(migrations.Migration):
    dependencies = [
        ("template_acl", "0001_initial"),
        ("groups", "0002_everyone"),
    ]

    operations = [migrations.RunPython(grant_everyone, migrations.RunPython.noop)]
