"""`breast-density ...` user commands; no pipeline stage imports them, so editing one reruns nothing."""
