#pragma once
// Which conversation a request belongs to, for session state and sticky routing. Claude Code
// says so itself (its X-Claude-Code-Session-Id header, or the session inside metadata.user_id);
// for every other client the session is derived from the conversation's beginning, which stays
// the same across its turns.

#include <string>
#include <string_view>

#include "core/request.hpp"

namespace tianshu::server {

//! Where a request's session id came from (request_attribute "session_source").
enum class SessionSource {
    header,    //!< X-Claude-Code-Session-Id
    metadata,  //!< metadata.user_id: Claude Code's JSON ({"session_id":…}) or "…_session_<id>"
    derived,   //!< a hash of the system prompt and the first user message
};
std::string_view to_string(SessionSource source);

struct SessionIdentity {
    std::string id;
    SessionSource source = SessionSource::derived;
};

//! The session of a request: the header when sent, else the one in metadata.user_id, else
//! "derived-" and 32 hex digits of a fast hash over the system prompt's text and the first user
//! message's content (bounded work however long they are). An id the client sent that is longer
//! than kMaxClientSessionId bytes is replaced by a hash of it ("hashed-…"), so keys stay small.
SessionIdentity identify_session(std::string_view header, const core::Request& request);

inline constexpr std::size_t kMaxClientSessionId = 128;

}  // namespace tianshu::server
