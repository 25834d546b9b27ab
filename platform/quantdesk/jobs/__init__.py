"""Scheduled report notebooks: papermill runs of ``notebooks/reports/`` archived under the catalog."""

from quantdesk.jobs.runner import JobRecord, available_jobs, list_job_runs, output_folder, run_job

__all__ = ["JobRecord", "available_jobs", "list_job_runs", "output_folder", "run_job"]
