# tfops configuration. Every key is optional; the values below are the defaults, except the
# night schedule, which keeps the original project's behaviour (service_3 off 00:00-06:00).
# `tfops config check` validates this file; a running `tfops run` reloads it on SIGHUP.

services {
  count  = 3         # service_1 … service_3
  active = [1, 2, 3] # given their marker when run starts and when a reload changes this list
}

# Optional, one block per service:
# service "service_3" {
#   weight      = 1    # share for strategy = "weighted"
#   hourly_cost = 0.10 # simulated currency units per hour not off
# }

balancer {
  strategy          = "round_robin" # round_robin | least_backlog | weighted
  rescan            = "5s"          # full rescan of the intake; events are handled at once
  settle            = "200ms"       # a file found by rescan must stay unchanged this long
  max_request_bytes = 1048576       # larger requests go to errors/ (too_large)
  recent_in_log     = 1000          # names kept in load_N.json "archivos"
}

health {
  interval = "10s" # also checked at once on marker and folder events
}

# Any number of schedules. The window is local time unless timezone says otherwise;
# start inclusive, end exclusive; it may wrap midnight; days = the day the window starts.
schedule "night" {
  services = ["service_3"]
  off      = "00:00-06:00"
  days     = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
  timezone = "local" # or an IANA name such as "America/Lima"
}

state {
  path         = "iac/terraform.tfstate"
  backups      = "backups"
  keep_last    = 50    # the newest snapshot of each of the N newest distinct states
  keep_daily   = 0     # plus the newest state of each of the last N days
  keep_weekly  = 0     # plus the newest state of each of the last N ISO weeks
  keep_monthly = 0     # plus the newest state of each of the last N months
  grace        = "5s"  # a missing/empty/invalid state this long raises an alarm
  auto_restore = false # put the newest valid snapshot back after the grace
}

drift {
  dir          = "iac"
  interval     = "60s"
  keep_reports = 100 # logs/drift_<ts>.json and .log kept
}
