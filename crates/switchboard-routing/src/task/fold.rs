//! How a task's events fold into its state: total (an event that makes no sense changes
//! nothing), so any stored log replays.

use switchboard_domain::{Recorded, Sid, Timestamp};

use super::{
    AssignmentStatus as Task, Reservation, ReservationStatus as Res, TaskEvent, TaskState,
};

impl TaskState {
    pub fn apply(&mut self, record: &Recorded<TaskEvent>) {
        self.events_applied += 1;
        let changed = match &record.event {
            TaskEvent::TaskCreated { .. } => self.fold_created(&record.event),
            TaskEvent::TaskAttributesErased => {
                "{}".clone_into(&mut self.attributes);
                self.attributes_erased = true;
                true
            }
            // The records before it are unreadable: the task is what the marker kept.
            TaskEvent::TaskShredded { kept } => {
                let applied = self.events_applied;
                *self = (**kept).clone();
                self.events_applied = applied;
                false
            }
            _ if !self.is_live() => false,
            event => self.fold_live(event, record.at),
        };
        if changed {
            self.version += 1;
            self.date_updated = record.at;
        }
    }

    fn fold_live(&mut self, event: &TaskEvent, at: Timestamp) -> bool {
        match event {
            TaskEvent::TaskCreated { .. }
            | TaskEvent::TaskAttributesErased
            | TaskEvent::TaskShredded { .. } => false,
            TaskEvent::TaskQueueEntered { route, at } => {
                if let Some(priority) = route.priority {
                    self.priority = priority;
                }
                self.route = Some(*route);
                self.task_queue_entered_date = Some(*at);
                self.queue_entry += 1;
                true
            }
            TaskEvent::TaskAttributesUpdated { attributes } => {
                self.attributes.clone_from(attributes);
                true
            }
            TaskEvent::TaskPriorityUpdated { priority } => {
                self.priority = *priority;
                true
            }
            TaskEvent::ReservationCreated { .. } => self.fold_reservation_created(event),
            TaskEvent::TaskWrapping => self.set_status(Task::Wrapping),
            TaskEvent::TaskCompleted { reason } => {
                self.reason = Some(reason.clone());
                self.set_status(Task::Completed)
            }
            TaskEvent::TaskCanceled { reason } => {
                self.reason = Some(reason.clone());
                self.set_status(Task::Canceled)
            }
            TaskEvent::TaskDeleted => {
                self.deleted = true;
                true
            }
            TaskEvent::ReservationFailed { reservation_sid, reason } => {
                let found = self.reservations.iter_mut().find(|r| r.sid == *reservation_sid);
                found.is_some_and(|reservation| {
                    reservation.failure = Some(reason.clone());
                    true
                })
            }
            reservation_event => self.fold_reservation_change(reservation_event, at),
        }
    }

    fn fold_created(&mut self, event: &TaskEvent) -> bool {
        let TaskEvent::TaskCreated {
            task_sid,
            account_sid,
            workspace_sid,
            workflow_sid,
            task_channel_sid,
            task_channel_unique_name,
            attributes,
            priority,
            timeout_secs,
            at,
        } = event
        else {
            return false;
        };
        if self.sid.is_some() {
            return false;
        }
        self.sid = Some(*task_sid);
        self.account_sid = Some(*account_sid);
        self.workspace_sid = Some(*workspace_sid);
        self.workflow_sid = Some(*workflow_sid);
        self.task_channel_sid = Some(*task_channel_sid);
        self.task_channel_unique_name.clone_from(task_channel_unique_name);
        self.attributes.clone_from(attributes);
        self.priority = *priority;
        self.timeout_secs = *timeout_secs;
        self.ttl_deadline = Timestamp(at.0.saturating_add(i64::from(*timeout_secs) * 1000));
        self.age_base = *at;
        self.date_created = *at;
        self.assignment_status = Task::Pending;
        true
    }

    fn fold_reservation_created(&mut self, event: &TaskEvent) -> bool {
        let TaskEvent::ReservationCreated {
            reservation_sid,
            worker_sid,
            worker_name,
            deadline,
            at,
        } = event
        else {
            return false;
        };
        if self.reservation(*reservation_sid).is_some() {
            return false;
        }
        self.reservations.push(Reservation {
            sid: *reservation_sid,
            worker_sid: *worker_sid,
            worker_name: worker_name.clone(),
            status: Res::Pending,
            date_created: *at,
            date_updated: *at,
            deadline: *deadline,
            queue_entry: self.queue_entry,
            failure: None,
        });
        self.assignment_status = Task::Reserved;
        true
    }

    /// A reservation moves to a new status, and the task with it where that follows.
    fn fold_reservation_change(&mut self, event: &TaskEvent, at: Timestamp) -> bool {
        let Some((sid, status)) = reservation_change(event) else {
            return false;
        };
        let Some(reservation) = self.reservations.iter_mut().find(|r| r.sid == sid) else {
            return false;
        };
        reservation.status = status;
        reservation.date_updated = at;
        match status {
            Res::Accepted => self.assignment_status = Task::Assigned,
            // The offer ended without an accept: the task waits again in its queue.
            Res::Rejected | Res::Timeout | Res::Rescinded => {
                self.assignment_status = Task::Pending;
            }
            // The task's own event (canceled, wrapping, completed) follows and sets its status.
            Res::Canceled | Res::Wrapping | Res::Completed | Res::Pending => {}
        }
        true
    }

    fn set_status(&mut self, status: Task) -> bool {
        self.assignment_status = status;
        true
    }
}

fn reservation_change(event: &TaskEvent) -> Option<(Sid, Res)> {
    let change = match event {
        TaskEvent::ReservationAccepted { reservation_sid } => (*reservation_sid, Res::Accepted),
        TaskEvent::ReservationRejected { reservation_sid } => (*reservation_sid, Res::Rejected),
        TaskEvent::ReservationTimedOut { reservation_sid } => (*reservation_sid, Res::Timeout),
        TaskEvent::ReservationRescinded { reservation_sid } => (*reservation_sid, Res::Rescinded),
        TaskEvent::ReservationCanceled { reservation_sid } => (*reservation_sid, Res::Canceled),
        TaskEvent::ReservationWrapping { reservation_sid } => (*reservation_sid, Res::Wrapping),
        TaskEvent::ReservationCompleted { reservation_sid } => (*reservation_sid, Res::Completed),
        _ => return None,
    };
    Some(change)
}
