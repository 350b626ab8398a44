"""``jupyter stardock``: main (the entry point), user (commands over REST), prune (its
policy), operator and doctor (commands that drive the engine), common (what they share)."""
