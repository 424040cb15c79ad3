"""Several newsletters (lists) in one installation: the list itself and who is subscribed to it."""
