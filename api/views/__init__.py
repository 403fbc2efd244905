"""The API's views, one module per resource family; base.py holds what they share."""
