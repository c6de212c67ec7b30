"""The operator console's dashboard: hourly samples of the apps' series, and their panels."""
