from hashcart import CartCommand, Host, Outcome, OutcomeCode, PolicyContext, hookimpl


@hookimpl
async def hashcart_check_command(
    command: CartCommand, context: PolicyContext, hashcart: Host
) -> Outcome | None:
    if command.is_bot:
        return Outcome(OutcomeCode.DENIED, silent=True)  # no answer to bots
    decision = await context.hit(f"per-day:{command.platform}:{command.user_id}", 100, 86_400)
    if not decision.allowed:
        minutes = max(1, round(decision.retry_after / 60))
        return Outcome(
            OutcomeCode.RATE_LIMITED, {"minutes": minutes}, silent=not decision.first_refusal
        )
    return None  # no objection: later implementations decide
