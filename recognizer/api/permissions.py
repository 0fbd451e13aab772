"""Who may see or change a drawing: staff, or the browser that drew it (its drawer cookie)."""

from rest_framework import permissions

from recognizer.drawer import drawer_key


class IsStaffOrDrew(permissions.BasePermission):
    """Staff, or the browser that made the drawing (its drawer cookie)."""

    message = "Only staff or the person who made this drawing may see it."

    def has_object_permission(self, request, view, obj):
        if request.user and request.user.is_staff:
            return True
        key = drawer_key(request)
        return bool(key) and obj.drawer_key == key


class DrewIt(permissions.BasePermission):
    message = "Only the person who made this drawing (same browser) can give feedback."

    def has_object_permission(self, request, view, obj):
        key = drawer_key(request)
        return bool(key) and obj.drawer_key == key
