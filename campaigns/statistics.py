"""Campaign statistics. Built by the Tracking issue; until then a campaign shows none."""


def campaign_statistics(campaign) -> list:
    return []
