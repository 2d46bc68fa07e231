"""Accounts: users and roles bound to areas, API tokens, and the scope each caller gets."""
