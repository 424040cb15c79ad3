"""Every domain's tables on the one metadata: imported wherever an engine is made, so that foreign
keys and relationships between domains always resolve."""

from newsletter.abtests import models as abtests
from newsletter.accounts import models as accounts
from newsletter.audience import models as audience
from newsletter.content import models as content
from newsletter.db.base import Base
from newsletter.delivery import models as delivery
from newsletter.inbound import models as inbound
from newsletter.inbound.providers import models as providers
from newsletter.issues import models as issues
from newsletter.lists import models as lists
from newsletter.readers import models as readers
from newsletter.schedule import models as schedule
from newsletter.webhooks import models as webhooks

DOMAIN_MODELS = (abtests, accounts, audience, content, delivery, inbound, issues, lists, providers, readers,
                 schedule, webhooks)
metadata = Base.metadata
