"""Running agents: process control, jobs, the Ralph loop, stop requests and liveness (spec §6)."""
