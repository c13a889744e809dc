"""What an execution is and which changes to it are legal, with no threads and no I/O."""
