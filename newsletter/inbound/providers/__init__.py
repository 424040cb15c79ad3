"""Bounces, complaints and unsubscribes reported by the relay's own webhooks (SES through SNS,
Mailgun, Postmark, SendGrid): each verified the provider's way (`ses`/`sns`, `mailgun`,
`postmark`, `sendgrid`), parsed into one normalized `ProviderEvent` (`events`), and applied to
readers through `readers.standing`, once per provider event id (`apply`)."""
