"""The real-time data path: latest-frame slots, per-backend workers, sensor queues."""
