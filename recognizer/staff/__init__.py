"""The staff side: the labeling queue (``queue``: its logic; ``review``: its admin views), accuracy numbers
(``accuracy``), the dashboard's rows and charts (``dashboard``, ``charts``), export and import of labeled drawings.

Registered in the admin by ``recognizer/admin.py``.
"""
