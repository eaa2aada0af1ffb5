"""The optimist app: the CLI and everything a user drives (chain control, deployment, keys,
doctor, demo, bench). It sits on top of every other package; nothing below imports it."""
