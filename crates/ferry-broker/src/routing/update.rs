//! Changes in place, each one commit: an exchange's arguments, and a binding replaced by another
//! (an SNS topic's attributes and a subscription's live there).

use std::sync::Arc;

use crate::message::Table;

use super::binding::{Binding, BindingId};
use super::error::RoutingError;
use super::exchange::{ExchangeDef, is_reserved};
use super::state::rule_for;
use super::{Router, missing, store};

impl Router {
    /// Replaces the arguments of exchange `name` (stored if it is durable). Those that change
    /// routing (`alternate-exchange`, `x-delayed-type`) must stay as they are; the others are
    /// the owner's to keep (an SNS topic's attributes and tags live there).
    pub fn set_exchange_arguments(&self, name: &str, arguments: Table) -> Result<(), RoutingError> {
        let _writer = self.writer();
        let def = {
            let state = self.read();
            let existing = state.exchanges.get(name).ok_or_else(|| missing(name))?;
            if is_reserved(name) || name.is_empty() {
                return Err(RoutingError::SystemExchange { exchange: name.to_string() });
            }
            let def = ExchangeDef { arguments, ..existing.def.clone() };
            def.validate()?;
            existing.def.check_equivalent(&def)?;
            def
        };
        if def.durable {
            self.meta.commit(&[store::put_exchange(&def)])?;
        }
        if let Some(x) = self.write().exchanges.get_mut(name) {
            x.def = def;
        }
        Ok(())
    }

    /// Replaces binding `old` by `new` (same source) in one step: stored at once, so a crash
    /// leaves one or the other. A missing `old` is [`RoutingError::BindingNotFound`].
    pub fn replace_binding(&self, old: &Binding, new: Binding) -> Result<(), RoutingError> {
        if old.source != new.source {
            return Err(RoutingError::InvalidArgument {
                subject: format!("binding of {} to exchange '{}'", new.destination, new.source),
                argument: "source".to_string(),
                reason: "a replaced binding keeps its source exchange".to_string(),
            });
        }
        let old_id = BindingId::of(old);
        let new_id = Arc::new(BindingId::of(&new));
        let _writer = self.writer();
        let (old_id, rule, durable) = {
            let state = self.read();
            let src = state.exchanges.get(&new.source).ok_or_else(|| missing(&new.source))?;
            let Some((id, entry)) = state.bindings.get_key_value(&old_id) else {
                return Err(RoutingError::BindingNotFound {
                    exchange: old.source.clone(),
                    destination: old.destination.to_string(),
                });
            };
            let rule = rule_for(&src.def, &new)?;
            (Arc::clone(id), rule, entry.durable)
        };
        if durable {
            let mut ops = vec![store::delete_binding(&old_id)];
            ops.push(store::put_binding(&new_id, &new));
            self.meta.commit(&ops)?;
        }
        let mut state = self.write();
        state.remove_binding(&old_id);
        state.insert_binding(new_id, new, rule, durable);
        Ok(())
    }
}
