def test_it_imports_settings(settings):
    assert settings.TASKS["default"]["BACKEND"]
