"""The staff side: labeling queue (review), accuracy numbers and their charts, export of labeled drawings.

Registered in the admin by ``recognizer/admin.py``.
"""
