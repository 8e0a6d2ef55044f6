"""The chat list's handlers: load it a page at a time from each service, keep it in step.

Each service sends its chats in pages (``GET /api/sessions?limit=&cursor=``); the state
keeps a ``shared.sidebar.Listing`` per service and the sidebar shows the merged chats no
older than the frontier (see shared/sidebar.py). Reaching the end of the list loads the
next page of the services at the frontier, and only what it adds is merged and drawn (at
the end of the list), so loading more costs the same at any depth. After an answer, a
rename or a delete only the first pages are fetched again and merged with what is loaded,
and the list is drawn again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from shared.schemas import Session
from shared.sidebar import PAGE_SIZE, Listing, behind, frontier, sidebar_more, sidebar_plan
from webapp.page.api import endpoints
from webapp.page.api.services import Services
from webapp.page.dom import Dom
from webapp.page.state.app import AppState
from webapp.page.views import sidebar as view_sidebar

MAX_PAGES_AT_ONCE = 20
"""Pages one reach of the list's end may load (each service's), if its end stays in view."""


class HistoryActions:
    """Loads and refreshes the sidebar's chats, over the page's AppState."""

    def __init__(
        self,
        state: AppState,
        dom: Dom,
        services: Services,
        show_error: Callable[[str], None],
        redraw: Callable[[], None],
        extend: Callable[[list[Session], list[Session]], None],
    ) -> None:
        self.state = state
        self.dom = dom
        self.services = services
        self.show_error = show_error
        self.redraw = redraw
        """Draws the sidebar from the state."""
        self.extend = extend
        """Draws the chats added at the end of the sidebar, and those changed in place."""
        self.loading = False

    async def refresh(self, reset: bool = False) -> None:
        """Fetch each online service's first page and merge it with what is loaded (with
        ``reset``, start over: an import may have put chats anywhere in the lists). A
        service that does not answer leaves the list until it is back."""
        answers = await self.services.from_each(lambda s: endpoints.list_sessions(s, PAGE_SIZE))
        listings = self.state.listings
        answered = {service.id for service, _ in answers}
        for service_id in [s for s in listings if s not in answered]:
            del listings[service_id]
        for service, answer in answers:
            listing = listings.get(service.id) if not reset else None
            if listing is None:
                listing = listings[service.id] = Listing()
            listing.take_first_page(answer.sessions, answer.next_cursor, answer.tombstones)
        await self.apply()

    async def load_more(self) -> None:
        """Load the next pages of the services at the frontier while the end of the list is
        in view (it is near: the sidebar's observer saw it)."""
        if self.loading:
            return
        self.loading = True
        try:
            for _ in range(MAX_PAGES_AT_ONCE):
                if not await self.next_pages():
                    break
                await self.apply_more()
                if not view_sidebar.end_in_view(self.dom):
                    break
        finally:
            self.loading = False

    async def next_pages(self) -> bool:
        """Add the next page of each service at the frontier; False if none has more."""
        listings = self.state.listings
        waiting = behind(listings)
        for service_id in waiting:
            listing, service = listings[service_id], self.state.services[service_id]
            version = listing.version
            next_page = partial(endpoints.list_sessions, limit=PAGE_SIZE, cursor=listing.cursor)
            answers = await self.services.from_each(next_page, [service])
            # A first page taken meanwhile may have moved the place reached: ask again later.
            if answers and listings.get(service_id) is listing and listing.version == version:
                answer = answers[0][1]
                listing.add_page(answer.sessions, answer.next_cursor)
        return bool(waiting)

    def forget(self, session_id: str) -> None:
        """A chat was deleted here: out of every listing at once."""
        for listing in self.state.listings.values():
            listing.drop(session_id)

    async def apply(self, follow: bool = True) -> None:
        """Show the merged chats; bring services that were down up to date (chats deleted
        elsewhere since they last changed are deleted there, renames made elsewhere pushed)."""
        listings = self.state.listings
        self.state.sessions, deletions, renames = sidebar_plan(listings)
        self.state.shown_edge = frontier(listings.values())
        self.state.has_more = any(listing.more for listing in listings.values())
        self.redraw()
        await self.push(deletions, renames)
        if follow and self.state.has_more and view_sidebar.end_in_view(self.dom):
            await self.load_more()  # a short list: the end is in view with no scroll

    async def apply_more(self) -> None:
        """Show what the pages just loaded add below the chats shown (and the chats shown
        whose title a copy loaded now changes), without merging or drawing the rest again."""
        state, listings = self.state, self.state.listings
        if state.shown_edge is None:  # everything was shown: nothing can go below it
            await self.apply(follow=False)
            return
        plan = sidebar_more(listings, state.sessions, state.shown_edge)
        for place, session in plan.changed:
            state.sessions[place] = session
        state.sessions.extend(plan.added)
        state.shown_edge = frontier(listings.values())
        state.has_more = any(listing.more for listing in listings.values())
        self.extend(plan.added, [session for _, session in plan.changed])
        await self.push(plan.deletions, plan.renames)

    async def push(self, deletions: dict[str, list[str]], renames: dict[str, list[tuple[str, str]]]) -> None:
        """Delete on each service the chats deleted elsewhere; give its copies the titles
        of renames made elsewhere."""
        listings = self.state.listings
        for service_id, session_ids in deletions.items():
            for session_id in session_ids:
                listings[service_id].drop(session_id)
                delete = partial(endpoints.delete_session, session_id=session_id)
                await self.services.change(self.state.services[service_id], delete, self.show_error)
        for service_id, titles in renames.items():
            for session_id, title in titles:
                listings[service_id].retitle(session_id, title)
                rename = partial(endpoints.patch_session, session_id=session_id, title=title)
                await self.services.change(self.state.services[service_id], rename, self.show_error)
