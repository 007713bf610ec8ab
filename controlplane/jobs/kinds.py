"""The kinds of long work the control plane does, as stored in the job table."""

CREATE_SERVICE = "create_service"
APPLY_PLAN = "apply_plan"
MIGRATE_SERVICE = "migrate_service"
DELETE_SERVICE = "delete_service"
START_SERVICE = "start_service"
