"""
WSGI config for digitsite project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

from recognizer.chunked import accept_chunked_bodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digitsite.settings")

application = accept_chunked_bodies(get_wsgi_application())  # Transfer-Encoding: chunked
