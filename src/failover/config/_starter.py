"""The starter file ``failover config init`` writes: small, commented and valid."""

from __future__ import annotations

_STARTER = """\
# failover configuration. Every key is documented in config/failover.example.toml;
# everything left out takes its default. Check it with `failover config validate`.
#
# Secrets are written by reference, never inline:
#   "${env:NAME}"    the environment variable NAME
#   "${file:/path}"  the content of a file (e.g. a systemd credential)

# Other ways to reach you, listed in every notice: one list for every language, or one
# per language: alternatives = { fr = ["Courriel : …"], en = ["E-mail: …"] }
alternatives = [
  # "E-mail: contact@example.org",
]

[daemon]
# database_url = "sqlite:///var/lib/failover/failover.db"   # default: $STATE_DIRECTORY/failover.db
listen = "127.0.0.1:9464"      # /metrics, /healthz and the API
timezone = "UTC"               # how times are shown to you, to the public, and to contacts without one
# api_token = "${env:FAILOVER_API_TOKEN}"                   # enables POST /api/v1/trigger
log_level = "info"
dry_run = false                # true: decide and record, but send nothing

[detection]
control_quorum = 2             # control targets that must answer for our network to count as up
confirm_after = ["2s", "5s"]   # re-probe delays before an outage is confirmed
recover_after = 3              # healthy rounds before a platform is up again

# The built-in catalog watches Facebook, Messenger, Instagram, WhatsApp, Telegram, Signal,
# X, Discord, Slack and mastodon.social. Switch one off:
# [platforms.x]
# enabled = false

[groups.team]
description = "The people who answer customers"

# [[contacts]]
# name = "Alice"
# language = "en"              # "en" or "fr"
# timezone = "Europe/Paris"
# groups = ["team"]
# [[contacts.channels]]        # in order of preference
# url = "mailtos://${env:SMTP_USER}:${env:SMTP_PASS}@smtp.example.org?to=alice@example.org"

# The built-in template "outage" has a text for every event (outage, recovery, …) in
# English and French. One of your own is used for every event of its routes: test `event`.
# [templates.team]
# visibility = "private"
# [templates.team.en]
# subject = "{{ names }} {{ 'works again' if event == 'resolved' else 'is down' }}"
# body = "{% if event == 'resolved' %}Back to normal.{% else %}Reach us by e-mail or Signal.{% endif %}"

# [[routes]]
# name = "team"
# template = "outage"
# events = ["confirmed", "resolved"]
# groups = ["team"]
"""


def starter_config() -> str:
    """A small, commented, valid configuration file for ``failover config init``."""
    return _STARTER
