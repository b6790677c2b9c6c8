from django.apps import AppConfig


class FakegatewayConfig(AppConfig):
    name = "playground.fakegateway"
