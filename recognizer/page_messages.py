"""Django's message framework for the pages only (issue 17).

The admin and the staff pages show one-time messages ("3 drawings labeled"); nothing under /api/ reads or writes
them. Django's ``MessageMiddleware`` still built a cookie-and-session message store for every API request and asked
it to save nothing afterwards: ~0.05 ms of a predict's CPU. This subclass (the admin's system check wants
``MessageMiddleware`` or a subclass) passes /api/ requests straight through; every other request gets Django's
behaviour unchanged. An API request that wrote a message would raise ``MessageFailure``; none does.
"""

from django.contrib.messages.middleware import MessageMiddleware

API_PREFIX = "/api/"


class PageMessageMiddleware(MessageMiddleware):
    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)
