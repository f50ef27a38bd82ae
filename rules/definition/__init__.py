"""What operators write: the rule model, its checks against the profiles, durations and rule
files."""
