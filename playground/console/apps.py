from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "playground.console"
    verbose_name = "Staff console"
