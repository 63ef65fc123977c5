package dev.llamaspec;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/**
 * Python's {@code datetime.strftime} in the C locale (English names), for chat templates'
 * {@code strftime_now(format)}: {@code %a %A %b %B %d %m %y %Y %H %I %M %S %p %j %z %Z %%}, and glibc's
 * {@code %-d} (no padding). Other directives stay as they are.
 */
final class PythonStrftime {
    private PythonStrftime() {}

    static String format(ZonedDateTime t, String format) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                out.append(c);
                continue;
            }
            boolean pad = true;
            char d = format.charAt(++i);
            if (d == '-' && i + 1 < format.length()) {
                pad = false;
                d = format.charAt(++i);
            }
            switch (d) {
                case 'a': out.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US)); break;
                case 'A': out.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US)); break;
                case 'b':
                case 'h': out.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US)); break;
                case 'B': out.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.US)); break;
                case 'd': number(out, t.getDayOfMonth(), 2, pad); break;
                case 'm': number(out, t.getMonthValue(), 2, pad); break;
                case 'y': number(out, t.getYear() % 100, 2, pad); break;
                case 'Y': out.append(t.getYear()); break;
                case 'H': number(out, t.getHour(), 2, pad); break;
                case 'I': number(out, t.getHour() % 12 == 0 ? 12 : t.getHour() % 12, 2, pad); break;
                case 'M': number(out, t.getMinute(), 2, pad); break;
                case 'S': number(out, t.getSecond(), 2, pad); break;
                case 'p': out.append(t.getHour() < 12 ? "AM" : "PM"); break;
                case 'j': number(out, t.getDayOfYear(), 3, pad); break;
                case 'z': {
                    int s = t.getOffset().getTotalSeconds();
                    out.append(s < 0 ? '-' : '+');
                    number(out, Math.abs(s) / 3600, 2, true);
                    number(out, Math.abs(s) / 60 % 60, 2, true);
                    break;
                }
                case 'Z': out.append(t.getZone().getDisplayName(TextStyle.SHORT, Locale.US)); break;
                case '%': out.append('%'); break;
                default: out.append('%').append(pad ? "" : "-").append(d);
            }
        }
        return out.toString();
    }

    private static void number(StringBuilder out, int n, int width, boolean pad) {
        String s = Integer.toString(n);
        if (pad) {
            out.append("0".repeat(Math.max(0, width - s.length())));
        }
        out.append(s);
    }
}
