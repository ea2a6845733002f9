"""Running a study, across the stages: config checks, sizing, job resources, artifacts and their provenance."""
