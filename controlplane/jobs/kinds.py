"""The kinds of long work the control plane does, as stored in the job table."""

CREATE_SERVICE = "create_service"
APPLY_PLAN = "apply_plan"
MIGRATE_SERVICE = "migrate_service"
DELETE_SERVICE = "delete_service"
START_SERVICE = "start_service"
TAKE_BACKUP = "take_backup"
DELETE_BACKUP = "delete_backup"
VERIFY_BACKUP = "verify_backup"
FORK_SERVICE = "fork_service"
RESTORE_TEST = "restore_test"

# Jobs whose failure leaves the service FAILED (a failed backup job leaves the service as it is).
SERVICE_KINDS = frozenset({CREATE_SERVICE, APPLY_PLAN, MIGRATE_SERVICE, START_SERVICE, DELETE_SERVICE, FORK_SERVICE})
