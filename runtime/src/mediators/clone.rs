//! `clone`: runs a copy of the message through each target (a sequence, an endpoint, or
//! both), concurrently unless `sequential`. Each copy gets its own headers, properties,
//! variables and payload; a body still as received is shared, not copied. After its
//! target, a copy goes on with the mediators after the clone, where an `aggregate` usually
//! collects the copies (Micro Integrator 4.x); the original message stops at the clone
//! unless `continueParent`. [`super::split`] says how the copies' outcomes end the flow.

use ferry_api::check::mediator as checked;

use super::BuildCx;
use super::split::{Split, Target};
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{Env, Flow};

/// A `clone` mediator.
pub struct Clone {
    id: Option<String>,
    sequential: bool,
    continue_parent: bool,
    targets: Vec<Target>,
}

impl Clone {
    /// Builds the targets.
    pub fn build(c: &checked::Clone, cx: &mut BuildCx<'_>) -> Option<Self> {
        let mut targets = Vec::with_capacity(c.targets.len());
        for t in &c.targets {
            targets.push(Target::build(t, cx)?);
        }
        Some(Clone {
            id: c.id.clone(),
            sequential: c.sequential,
            continue_parent: c.continue_parent,
            targets,
        })
    }

    /// The targets' sequences, for load-time analysis.
    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter()
    }

    /// Runs the copies; the flow ends here (see [`super::split`]).
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let original: &Message = msg;
        let copies: Vec<(Message, &Target)> = self
            .targets
            .iter()
            .map(|t| (original.copy_with(original.payload().copy_light()), t))
            .collect();
        Split {
            id: self.id.as_deref(),
            total: copies.len(),
            copies: copies.into_iter(),
            sequential: self.sequential,
            continue_parent: self.continue_parent,
        }
        .run(msg, env)
        .await
    }
}
