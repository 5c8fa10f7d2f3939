"""SMS in the admin: callbacks read-only; outbound messages and batches; compose, reply, resend.

Every confirmation shows what will be sent: the text, the sender it goes from,
how many; the compose preview also lists the numbers left out (and why) and
estimates the cost from what AT charged per SMS part over the last 30 days.
The batch list ("campaigns") leaves replies and auto-replies out unless asked;
an inbound message's page lists the replies sent to it.

One module per concern: callbacks (read-only evidence),
state (opt-outs, subscriptions), outbound (messages, batches, compose,
resend), rules (auto-replies); common holds what they share.
"""

from . import callbacks, outbound, rules, state  # noqa: F401 - each registers its admins
