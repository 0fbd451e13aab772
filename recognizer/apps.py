from django.apps import AppConfig


class RecognizerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recognizer"

    def ready(self):
        # A bad rate in the environment (PREDICT_RATE_ANON=60/minn) stops the server at start-up, not 500 per request.
        from recognizer.api.throttling import check_rates

        check_rates()
