"""/management/v1/users: users, their sessions, grants and audit trail."""
