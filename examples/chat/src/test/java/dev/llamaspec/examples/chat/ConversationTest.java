package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.llamaspec.ChatMessage;
import dev.llamaspec.StopReason;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConversationTest {

    @Test
    void completionTextJoinsLinesAndRepliesAsRunningText() {
        Conversation c = new Conversation();
        assertEquals("Once upon a time", c.completionText(0, "Once upon a time"));
        c.add(new Conversation.Exchange("Once upon a time", ", there was a cat.", StopReason.MAX_TOKENS));
        assertEquals("Once upon a time, there was a cat. The cat was big.", c.completionText(0, "The cat was big."));
        c.add(new Conversation.Exchange("The cat was big.", " It ran.\n", StopReason.END_OF_TEXT));
        assertEquals("Once upon a time, there was a cat. The cat was big. It ran.\nThen", c.completionText(0, "Then"));
        assertEquals("The cat was big. It ran.\nThen", c.completionText(1, "Then"));
        c.setSystem("  A story.  ");
        assertEquals("A story.\nThen", c.completionText(2, "Then"));
    }

    @Test
    void chatMessagesCarryTheSystemTextAndStrippedReplies() {
        Conversation c = new Conversation();
        c.setSystem("Be brief.");
        c.add(new Conversation.Exchange("Hi", " Hello!\n", StopReason.END_OF_TEXT));
        c.add(new Conversation.Exchange("How are you?", " Fine.", StopReason.CANCELLED));
        assertEquals(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hi"), ChatMessage.assistant("Hello!"),
                ChatMessage.user("How are you?"), ChatMessage.assistant("Fine."), ChatMessage.user("Bye")),
                c.chatMessages(0, "Bye"));
        assertEquals(List.of(ChatMessage.system("Be brief."), ChatMessage.user("How are you?"),
                ChatMessage.assistant("Fine."), ChatMessage.user("Bye")), c.chatMessages(1, "Bye"));
        // /save keeps every exchange, replies as generated
        assertEquals(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hi"),
                ChatMessage.assistant(" Hello!\n"),
                ChatMessage.user("How are you?"), ChatMessage.assistant(" Fine.")), c.allMessages());
        c.clear();
        c.setSystem(null);
        assertEquals(List.of(ChatMessage.user("Bye")), c.chatMessages(0, "Bye"));
        assertEquals(List.of(), c.allMessages());
    }
}
