"""The page's only way to the services: one typed function per endpoint (``endpoints``) over
the browser's fetch, server-sent events (``http``) and the services as a group, their status
sockets and fan-out requests (``services``). Nothing here touches the DOM."""
