-- A withdrawal can arrive from the one-click unsubscribe link of a news
-- email (method 'unsubscribe_link'), without a session.
ALTER TABLE consent_events DROP CONSTRAINT consent_events_method_check;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_method_check
    CHECK (method IN ('portal', 'paper_form', 'unsubscribe_link'));
