from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "playground.audit"
    verbose_name = "Audit log"
