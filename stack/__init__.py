"""Running the local stack: the Temporal dev server, and the processes of `receptionist dev`."""
