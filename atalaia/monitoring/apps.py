from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "atalaia.monitoring"
    label = "monitoring"

    def ready(self) -> None:
        # Imported here: models may be imported only once the app registry is ready.
        from atalaia.incidents import gate
        from atalaia.monitoring.evidence import monitor_readings

        gate.provide_monitor_readings(monitor_readings)
        # The worker's jobs this app runs (atalaia/lib/jobs.py).
        from atalaia.monitoring import jobs as monitoring_jobs

        monitoring_jobs.register()
