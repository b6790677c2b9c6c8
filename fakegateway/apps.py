from django.apps import AppConfig


class FakegatewayConfig(AppConfig):
    name = "fakegateway"
