from aiohttp import web

from hashcart import Action, CartCommand, Host, ReplyTarget, Unavailable, extract_urls, hookimpl


@hookimpl
def hashcart_web_routes(hashcart: Host, app: web.Application) -> None:
    async def receive(request: web.Request) -> web.Response:
        event = await request.json()
        urls = extract_urls(event["text"])
        command = CartCommand(
            platform="echo",
            user_id=event["user"],
            action=Action.ADD,
            event_id=event["id"],  # the platform's own id: redeliveries change nothing
            reply_to=ReplyTarget("echo", user=event["user"]),
            reference=urls[0] if urls else None,
        )
        try:
            await hashcart.submit(command)  # returns once the command is durable
        except Unavailable:
            return web.Response(status=503)  # let the platform deliver it again
        return web.Response(status=204)

    app.router.add_post("/echo/events", receive)
