"""The processes a run uses: process groups (workers, sharding, launch) and machine facts."""
