"""What happens to a workspace before its agent connects, streamed into the agent's startup log."""
