"""A/B subject tests: two to four subjects, each to an equal share of a test fraction of the list,
then the winner (by unique opens or clicks per reader sent) to everyone else."""
