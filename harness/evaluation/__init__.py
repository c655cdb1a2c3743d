"""The evaluation pieces: post histories and databases, worker sources, scoring, graders,
line decisions, metrics."""
