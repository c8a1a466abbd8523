import type { JobDefinition, Schedule } from '../jobs/job.model.js';
import type { ReportingReminders } from './reminder.service.js';

/** Reporting's background jobs: the daily check that reminds overdue apps (once per cycle each). */
export function reportingJobs(reminders: ReportingReminders, schedule: Schedule): JobDefinition[] {
  return [
    {
      name: 'reporting.overdue-reminders',
      schedule,
      async run() {
        return { reminded: await reminders.remindOverdueApps() };
      },
    },
  ];
}
